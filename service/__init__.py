"""The service layer: the App, the crawl runner with its long-lived sources, the detection entry point and
the scheduled jobs. Domain packages below take a store and settings; only this layer holds an App."""
