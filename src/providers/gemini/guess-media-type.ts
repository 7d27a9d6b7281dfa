/** Media types Gemini accepts for images and documents, by file extension. */
const BY_EXTENSION: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  heic: 'image/heic',
  heif: 'image/heif',
  gif: 'image/gif',
  pdf: 'application/pdf',
};

/**
 * The media type of a URL from its path's extension (query and fragment ignored);
 * undefined when the extension says nothing. Gemini's fileData wants a mimeType and the
 * gateway does not fetch URLs, so this is the best it can do.
 */
export function guessMediaTypeFromUrl(url: string): string | undefined {
  let path = url;
  try {
    path = new URL(url).pathname;
  } catch {
    path = url.split(/[?#]/)[0];
  }
  const m = /\.([A-Za-z0-9]+)$/.exec(path);
  return m ? BY_EXTENSION[m[1].toLowerCase()] : undefined;
}
