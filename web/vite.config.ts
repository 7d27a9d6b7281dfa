import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The gateway serves the build at /dashboard under a strict Content-Security-Policy
// (no inline scripts or styles), so nothing may be inlined into index.html and no asset
// may become a data: URL.
export default defineConfig({
  base: '/dashboard/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: 'es2022',
    chunkSizeWarningLimit: 600,
  },
  server: {
    // `npm run dev -w web`: the admin API of a gateway running on the default port.
    proxy: { '/admin': 'http://127.0.0.1:8080' },
  },
});
