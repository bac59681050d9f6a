"""Server-side web capture (网页取证 / 录屏取证 / 过程取证): a clean, recorded browser."""
