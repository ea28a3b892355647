import { defineConfig } from "$fresh/server.ts";

// Port: `server.port` here, else the PORT environment variable, else 8000.
export default defineConfig({});
