"""RabbitMQ: the topology of the contract, confirmed publishing, consumers with retries and DLQs."""
