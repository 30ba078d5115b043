"""Deployers, as AgentScope Runtime names them: ``await app.deploy(LocalDeployManager(...))``.

``LocalDeployManager`` serves an app on this machine in the background; the cloud
deployments are ``make package`` + Terraform (see the README), not a deployer object.
"""

from __future__ import annotations

from .local import LocalDeployManager

__all__ = ["LocalDeployManager"]
