# JupyterHub for a coreos-lab classroom (started by `make classroom`, see labs/classroom/hub.py).
#
# Students and teachers log in with their system accounts (PAM); each gets JupyterLab as
# themselves, in their home, on their copy of the notebooks, with LAB_HOME pointing at their
# own lab. Teachers are the hub's admins and alone may open /services/classroom/.
import os
import pwd
import sys
from pathlib import Path

from labs.classroom import config as classroom_config, hub
from labs.launcher.settings import PROJECT_ROOT

c = get_config()  # noqa: F821  (JupyterHub's config loader provides it)
classroom = classroom_config.load(Path(os.environ["CLASSROOM_CONFIG"]))
venv_bin = Path(sys.executable).parent

c.JupyterHub.bind_url = f"http://{classroom.hub_ip}:{classroom.hub_port}/"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = classroom.hub_port + 1
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{classroom.hub_port + 2}"
c.ConfigurableHTTPProxy.command = [os.environ["CLASSROOM_PROXY"]]
c.JupyterHub.cookie_secret_file = str(hub.hub_dir(classroom) / "cookie_secret")
c.JupyterHub.db_url = f"sqlite:///{hub.hub_dir(classroom) / 'jupyterhub.sqlite'}"

c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.open_sessions = False
c.Authenticator.allowed_users = set(classroom.students) | set(classroom.teachers)
c.Authenticator.admin_users = set(classroom.teachers)


def lab_home(spawner):
    return str(Path(pwd.getpwnam(spawner.user.name).pw_dir) / ".lab")


def landing(handler):
    """Teachers land on the classroom's table, students in their JupyterLab."""
    user = handler.current_user
    if user is not None and user.name in classroom.teachers:
        return "/services/classroom/"
    return "/hub/spawn" if user is not None else "/hub/login"   # starts theirs if need be


c.JupyterHub.default_url = landing
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [str(venv_bin / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab/tree/notebooks"
c.Spawner.environment = {
    "LAB_HOME": lab_home,
    # the classroom's `vagrant` and `docker` (through the broker) before the real ones
    "PATH": f"{PROJECT_ROOT / 'classroom' / 'bin'}:{venv_bin}:/usr/local/bin:/usr/bin:/bin",
    "PYTHONPATH": str(PROJECT_ROOT),
}
c.Spawner.http_timeout = 120
c.Spawner.start_timeout = 120

c.JupyterHub.services = [{
    "name": "classroom",
    "url": f"http://127.0.0.1:{classroom.hub_port + 3}",
    "command": [sys.executable, "-m", "labs.classroom.service"],
    "api_token": hub.service_token(classroom),
    "oauth_no_confirm": True,
    "display": True,
    "environment": {"CLASSROOM_CONFIG": os.environ["CLASSROOM_CONFIG"],
                    "PYTHONPATH": str(PROJECT_ROOT), "PATH": os.environ["PATH"]},
}]
c.JupyterHub.load_roles = [{
    "name": "classroom-service",
    "description": "the teacher's view reads who is logged in and when they were last active",
    "scopes": ["list:users", "read:users:activity", "read:users:name", "read:servers"],
    "services": ["classroom"],
}]
