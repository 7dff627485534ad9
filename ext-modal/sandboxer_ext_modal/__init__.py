"""sandboxer-ext-modal's code: `backend` (the extension), `prices` (Modal's
published prices, dated), `network` (a profile's network as Modal's
allow-lists)."""
