/** A vector as OpenAI's `encoding_format: base64`: little-endian float32 bytes, base64. */
export function encodeEmbeddingBase64(values: readonly number[]): string {
  const buf = Buffer.alloc(values.length * 4);
  for (let i = 0; i < values.length; i++) buf.writeFloatLE(values[i], i * 4);
  return buf.toString('base64');
}

/** An OpenAI embeddings response for vectors made elsewhere (a Gemini upstream). */
export function encodeEmbeddingsResponse(vectors: number[][], model: string, format: 'float' | 'base64', promptTokens: number): unknown {
  return {
    object: 'list',
    data: vectors.map((v, index) => ({ object: 'embedding', index, embedding: format === 'base64' ? encodeEmbeddingBase64(v) : v })),
    model,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  };
}
