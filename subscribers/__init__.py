"""The worker side: the FastStream subscribers, the executor that runs tasks, admission,
leases and the failure policy; assembled by `subscribers.worker.create_app`."""
