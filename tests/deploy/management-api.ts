/**
 * A stand-in for the two Management API endpoints `supabase functions deploy --use-api` calls,
 * recording what the CLI sends.
 *
 * The endpoints and shapes are the CLI's own (github.com/supabase/cli):
 * - `apps/cli-go/pkg/function/deploy.go`: each function is a multipart `POST
 *   /v1/projects/{ref}/functions/deploy?slug=<slug>` (plus `bundleOnly=true` when several are
 *   deployed at once) with a `metadata` field (JSON: `entrypoint_path`, `import_map_path`,
 *   `name`, `static_patterns`, `verify_jwt`) and one `file` part per uploaded file, named by its
 *   path relative to the working directory; a 201 `DeployFunctionResponse` is expected. Several
 *   functions end with one `PUT /v1/projects/{ref}/functions` (bulk update), answered 200.
 * - `apps/cli-go/internal/secrets/set/set.go`: `supabase secrets set` is one `POST
 *   /v1/projects/{ref}/secrets` with `[{ name, value }]`, answered 201.
 * - `apps/cli-go/pkg/api/types.gen.go`: `DeployFunctionResponse`, `BulkUpdateFunctionResponse`.
 */

/** What one deploy call carried. */
export interface CapturedUpload {
  slug: string;
  bundleOnly: boolean;
  metadata: {
    entrypoint_path: string;
    import_map_path?: string;
    name?: string;
    static_patterns?: string[];
    verify_jwt?: boolean;
  };
  /** Uploaded file names (paths relative to the CLI's working directory) → contents. */
  files: Map<string, string>;
}

/** Any request the stand-in received. */
export interface CapturedRequest {
  method: string;
  path: string;
  query: string;
  authorization: string | null;
}

export interface ManagementApi {
  url: string;
  requests: CapturedRequest[];
  uploads: CapturedUpload[];
  /** Bodies of `PUT /v1/projects/{ref}/functions` calls. */
  bulkUpdates: unknown[];
  /** Bodies of `POST /v1/projects/{ref}/secrets` calls. */
  secrets: { name: string; value: string }[][];
  close(): Promise<void>;
}

const DEPLOY = /^\/v1\/projects\/([a-z]{20})\/functions\/deploy$/;
const FUNCTIONS = /^\/v1\/projects\/([a-z]{20})\/functions$/;
const SECRETS = /^\/v1\/projects\/([a-z]{20})\/secrets$/;

/** Starts the stand-in on a free port of 127.0.0.1. */
export function startManagementApi(): Promise<ManagementApi> {
  const requests: CapturedRequest[] = [];
  const uploads: CapturedUpload[] = [];
  const bulkUpdates: unknown[] = [];
  const secrets: { name: string; value: string }[][] = [];
  let version = 0;
  const { promise: listening, resolve } = Promise.withResolvers<number>();

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: ({ port }) => resolve(port) },
    async (req) => {
      const url = new URL(req.url);
      requests.push({
        method: req.method,
        path: url.pathname,
        query: url.search,
        authorization: req.headers.get("authorization"),
      });
      if (req.method === "POST" && DEPLOY.test(url.pathname)) {
        const form = await req.formData();
        const metadata = JSON.parse(String(form.get("metadata"))) as CapturedUpload["metadata"];
        const files = new Map<string, string>();
        for (const part of form.getAll("file")) {
          if (part instanceof File) files.set(part.name, await part.text());
        }
        const slug = url.searchParams.get("slug") ?? metadata.name ?? "";
        uploads.push({
          slug,
          bundleOnly: url.searchParams.get("bundleOnly") === "true",
          metadata,
          files,
        });
        const now = Date.now();
        return Response.json({
          id: crypto.randomUUID(),
          slug,
          name: metadata.name ?? slug,
          version: ++version,
          status: "ACTIVE",
          entrypoint_path: metadata.entrypoint_path,
          import_map: metadata.import_map_path !== undefined,
          import_map_path: metadata.import_map_path,
          verify_jwt: metadata.verify_jwt,
          created_at: now,
          updated_at: now,
        }, { status: 201 });
      }
      if (req.method === "PUT" && FUNCTIONS.test(url.pathname)) {
        const body = await req.json();
        bulkUpdates.push(body);
        return Response.json({ functions: body });
      }
      if (req.method === "POST" && SECRETS.test(url.pathname)) {
        secrets.push(await req.json());
        return new Response(null, { status: 201 });
      }
      await req.body?.cancel();
      return Response.json({ message: `not emulated: ${req.method} ${url.pathname}` }, {
        status: 404,
      });
    },
  );

  return listening.then((port) => ({
    url: `http://127.0.0.1:${port}`,
    requests,
    uploads,
    bulkUpdates,
    secrets,
    close: () => server.shutdown(),
  }));
}
