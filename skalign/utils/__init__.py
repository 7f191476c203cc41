"""Input validation and the one-table data convention."""

from ._domains import (
    DEFAULT_SOURCE_DOMAIN,
    DEFAULT_TARGET_DOMAIN,
    check_sample_domain,
    infer_domains_from_layout,
    infer_domains_from_y,
    split_domains,
    stack_domains,
)

__all__ = [
    "DEFAULT_SOURCE_DOMAIN",
    "DEFAULT_TARGET_DOMAIN",
    "check_sample_domain",
    "infer_domains_from_layout",
    "infer_domains_from_y",
    "split_domains",
    "stack_domains",
]
