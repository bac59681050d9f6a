"""Credit repair (信用修复): the public application with attachments fixed as evidence,
officer review with statutory waiting periods (docs/credit-repair.md)."""
