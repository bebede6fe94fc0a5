"""The server process around the app: uvicorn with limits against hostile clients, graceful shutdown, workers."""
