/** A browser-like portal client: keeps the session cookie the gateway sets, sends JSON. */
export class PortalClient {
  cookie: string | undefined;

  constructor(
    private readonly base: string,
    private readonly ip?: string,
  ) {}

  async call(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.cookie) headers.cookie = this.cookie;
    if (this.ip) headers['x-forwarded-for'] = this.ip;
    const res = await fetch(`${this.base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const set = res.headers.get('set-cookie');
    if (set) {
      const [pair] = set.split(';');
      this.cookie = pair.endsWith('=') ? undefined : pair;
    }
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: res.headers };
  }

  signUp(email: string, password: string, extra: Record<string, unknown> = {}) {
    return this.call('POST', '/portal/sign-up', { email, password, ...extra });
  }

  signIn(email: string, password: string) {
    return this.call('POST', '/portal/sign-in', { email, password });
  }
}
