// Only what the test needs: a static export the gateway serves under NEXT_BASE_PATH, and
// this folder as the root (the repository's own lockfile above would be taken for it).
// Nothing here is for payonce.
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));

export default {
  output: 'export',
  basePath: process.env.NEXT_BASE_PATH || '/next',
  turbopack: { root: here },
  outputFileTracingRoot: here,
};
