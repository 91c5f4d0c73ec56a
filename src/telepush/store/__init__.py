"""Persistence: the Store protocol and its backends. The only place that speaks SQL."""

from telepush.store.base import DeliveryFilter, Page, Store

__all__ = ["DeliveryFilter", "Page", "Store"]
