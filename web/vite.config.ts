import { defineConfig, loadEnv } from "vite";

// Served by the LangGraph server itself at /ui (src/deep_agent_service/server/webapp.py), so every asset
// path is under /ui/ and the API is the page's own origin. `npm run dev` proxies the API instead.
export default defineConfig(({ mode }) => ({
  base: "/ui/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
    rollupOptions: {
      // The SDK's React entry points start with "use client" (for server components); irrelevant here.
      onwarn(warning, warn) {
        if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
      },
    },
  },
  server: {
    proxy: { "^/(?!ui/|@|src/|node_modules/).*": { target: loadEnv(mode, ".", "DEEP_AGENT_").DEEP_AGENT_URL ?? "http://127.0.0.1:2024" } },
  },
}));
