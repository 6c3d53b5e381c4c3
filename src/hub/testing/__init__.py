"""Testing helpers, shipped for every user of the hub (ours and third parties').

- `ConnectorContract`: subclass it in a test module to prove a connector honours
  the uniform interface against its mock, over real HTTP.
- `ServedApp`: serve an ASGI app (a mock) on a loopback port in a thread.
- `LeakCheck`: collect every rendered log line and find personal data in them.
- `no_retries`: one attempt per call, for fast tests of code that calls the hub.
"""

from hub._serving import ServedApp
from hub.testing._contract import ConnectorContract
from hub.testing._leaks import LeakCheck
from hub.testing._retries import no_retries

__all__ = ["ConnectorContract", "LeakCheck", "ServedApp", "no_retries"]
