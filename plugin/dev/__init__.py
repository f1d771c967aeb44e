"""Local use only: the runner behind `manage.py run`, the sandbox, its demo and the HTTP fakes."""
