"""The NATS JetStream transport: the stream (`stream`), conditional publishes
(`publish`), the relay from the event log (`relay`) and the reader projections consume
through (`reader`)."""
