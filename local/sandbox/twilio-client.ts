/**
 * Pointing twilio-node at the sandbox. twilio-node builds every URL on `https://*.twilio.com`
 * (its `edge`/`region` options only rewrite the hostname inside twilio.com), so the one seam is
 * its `httpClient` option: a RequestClient that swaps the origin just before each request.
 * Page links (`next_page_uri`) go through the same client, so auto-pagination works too.
 * @module
 */
import twilio from "twilio";

type BaseOptions = Parameters<InstanceType<typeof twilio.RequestClient>["request"]>[0];
type RequestOptions<TData> = BaseOptions & { data?: TData };

/** A twilio-node RequestClient that sends `*.twilio.com` requests to `baseUrl` instead. */
export class SandboxRequestClient extends twilio.RequestClient {
  #base: URL;

  /**
   * @param baseUrl the sandbox origin, e.g. `http://127.0.0.1:54324`
   * @param options passed to twilio's RequestClient (timeout, keepAlive, autoRetry…)
   */
  constructor(baseUrl: string, options?: ConstructorParameters<typeof twilio.RequestClient>[0]) {
    super(options);
    this.#base = new URL(baseUrl);
  }

  /** Rewrites the origin of Twilio URLs, then sends as twilio-node normally would. */
  override request<TData>(opts: RequestOptions<TData>) {
    const uri = new URL(opts.uri);
    if (uri.hostname === "twilio.com" || uri.hostname.endsWith(".twilio.com")) {
      uri.protocol = this.#base.protocol;
      uri.host = this.#base.host;
    }
    return super.request<TData>({ ...opts, uri: uri.href });
  }
}

/** A twilio-node client whose REST calls go to the sandbox at `baseUrl`. */
export function createSandboxTwilioClient(
  baseUrl: string,
  accountSid: string,
  authToken: string,
  options?: ConstructorParameters<typeof twilio.RequestClient>[0],
): twilio.Twilio {
  return twilio(accountSid, authToken, {
    httpClient: new SandboxRequestClient(baseUrl, options),
  });
}
