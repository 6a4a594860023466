"""The instrument families: actor, network, invoker, discovery and http, declared once as data.

Each family is a module here; its ``*_FAMILY`` declaration gives the instruments, the handles,
the docs page and ``otelsvc catalog``. Create a family's recorder from a guard::

    actors = ActorMetrics(guard)
    counter_actor = actors.actor("counter")
    actors.actor_started(counter_actor)
"""

from otelsvc.instruments._buckets import BUCKETS
from otelsvc.instruments._interner import Interner
from otelsvc.instruments._spec import Family, Label, MetricSpec
from otelsvc.instruments.actor import ACTOR_FAMILY, ActorHandles, ActorMetrics
from otelsvc.instruments.discovery import DISCOVERY_FAMILY, DiscoveryMetrics, classify_retry
from otelsvc.instruments.http import HTTP_FAMILY, HttpMetrics
from otelsvc.instruments.invoker import INVOKER_FAMILY, Invocation, InvokerMetrics
from otelsvc.instruments.network import NETWORK_FAMILY, ConnectionHandles, NetworkMetrics, SwimlaneHandles

FAMILIES: tuple[Family, ...] = (ACTOR_FAMILY, NETWORK_FAMILY, INVOKER_FAMILY, DISCOVERY_FAMILY, HTTP_FAMILY)

__all__ = [
    "ACTOR_FAMILY",
    "BUCKETS",
    "DISCOVERY_FAMILY",
    "FAMILIES",
    "HTTP_FAMILY",
    "INVOKER_FAMILY",
    "NETWORK_FAMILY",
    "ActorHandles",
    "ActorMetrics",
    "ConnectionHandles",
    "DiscoveryMetrics",
    "Family",
    "HttpMetrics",
    "Interner",
    "Invocation",
    "InvokerMetrics",
    "Label",
    "MetricSpec",
    "NetworkMetrics",
    "SwimlaneHandles",
    "classify_retry",
]
