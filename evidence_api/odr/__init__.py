"""Online dispute resolution (ODR 在线纠纷解决): mediation between consumer, merchant and
platform, offers, agreement or failure, deadlines (docs/odr.md)."""
