import http from 'node:http';

/** A keep-alive HTTP/1.1 client for one server, with at most `maxSockets` connections. */
export class JsonClient {
  private readonly agent: http.Agent;

  constructor(
    private readonly baseUrl: string,
    maxSockets = 64,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  /**
   * POSTs `body` as JSON and parses the answer.
   * @throws Error carrying the status and body for any status other than `expect`.
   */
  post<T>(path: string, body: unknown, expect = 201): Promise<T> {
    return this.send('POST', path, body, expect);
  }

  /**
   * PUTs `body` as JSON and parses the answer.
   * @throws Error carrying the status and body for any status other than `expect`.
   */
  put<T>(path: string, body: unknown, expect = 200): Promise<T> {
    return this.send('PUT', path, body, expect);
  }

  private send<T>(method: string, path: string, body: unknown, expect: number): Promise<T> {
    const data = Buffer.from(JSON.stringify(body));
    const url = new URL(path, this.baseUrl);
    return new Promise((resolve, reject) => {
      const req = http.request(
        url,
        {
          method,
          agent: this.agent,
          headers: { 'content-type': 'application/json', 'content-length': data.length },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode !== expect) {
              reject(new Error(`${method} ${path}: ${res.statusCode} ${text.slice(0, 300)}`));
              return;
            }
            try {
              resolve(JSON.parse(text) as T);
            } catch (err) {
              reject(err instanceof Error ? err : new Error(String(err)));
            }
          });
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  }

  /** Closes the idle connections. */
  close(): void {
    this.agent.destroy();
  }
}
