"""Test support: real daemons, images built offline, Ansible runs. No mocks."""
