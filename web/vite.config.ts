// The console is served under /console/ by every Fleuve server (embedded in the binary) and by
// the edge; `npm run dev` proxies the gRPC-web calls to a running `fleuve dev`.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  base: "/console/",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // Byte-identical output for identical sources: the committed bundle is checked against a rebuild.
    sourcemap: false,
    reportCompressedSize: true,
    chunkSizeWarningLimit: 800,
  },
  server: {
    proxy: {
      "^/fleuve\\.": { target: process.env.FLEUVE_DEV_URL ?? "http://127.0.0.1:50051", changeOrigin: true },
    },
  },
});
