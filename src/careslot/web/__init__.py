"""Server-rendered pages, their static files and the service worker."""
