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
from ._parallel import apply_by_chunks

__all__ = [
    "DEFAULT_SOURCE_DOMAIN",
    "DEFAULT_TARGET_DOMAIN",
    "apply_by_chunks",
    "check_sample_domain",
    "infer_domains_from_layout",
    "infer_domains_from_y",
    "split_domains",
    "stack_domains",
]
