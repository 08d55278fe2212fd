// AdmissionReview v1 envelopes: parse an untrusted request body into a typed request (with a clear
// error for every way it can be wrong) and build the response the API server expects.
import { z } from 'zod';

const GroupVersionKind = z.looseObject({ group: z.string(), version: z.string(), kind: z.string() });
const GroupVersionResource = z.looseObject({ group: z.string(), version: z.string(), resource: z.string() });

export const AdmissionRequestSchema = z.looseObject({
  uid: z.string().min(1),
  kind: GroupVersionKind,
  resource: GroupVersionResource,
  subResource: z.string().optional(),
  name: z.string().optional(),
  namespace: z.string().optional(),
  operation: z.enum(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']),
  userInfo: z.looseObject({ username: z.string().optional() }).optional(),
  object: z.unknown().optional(),
  oldObject: z.unknown().optional(),
  dryRun: z.boolean().optional(),
});

export type AdmissionRequest = z.infer<typeof AdmissionRequestSchema>;

export interface AdmissionResponseBody {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: {
    uid: string;
    allowed: boolean;
    status?: { code: number; message: string };
    warnings?: string[];
  };
}

export type ParsedReview =
  | { ok: true; request: AdmissionRequest }
  /** The envelope is unusable: answer with HTTP `status` and this error. */
  | { ok: false; status: number; error: string }
  /** The envelope has a uid but the request is malformed: answer with a denial. */
  | { ok: false; status: 200; uid: string; error: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

function issueText(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  const path = issue.path.length > 0 ? issue.path.join('.') : '(root)';
  return `${path}: ${issue.message}`;
}

/** Parses a raw request body. Never throws. */
export function parseAdmissionReview(body: Uint8Array): ParsedReview {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return { ok: false, status: 400, error: 'the request body is not valid UTF-8; expected a JSON AdmissionReview' };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, status: 400, error: `the request body is not valid JSON (${(err as Error).message}); expected an AdmissionReview` };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { ok: false, status: 400, error: 'the request body is not a JSON object; expected an AdmissionReview' };
  }
  const review = json as { apiVersion?: unknown; kind?: unknown; request?: unknown };
  if (review.apiVersion !== 'admission.k8s.io/v1' || review.kind !== 'AdmissionReview') {
    return {
      ok: false,
      status: 400,
      error: `expected apiVersion admission.k8s.io/v1 and kind AdmissionReview, found ${JSON.stringify(review.apiVersion ?? null)} and ${JSON.stringify(review.kind ?? null)}; set admissionReviewVersions: ["v1"] in the webhook configuration`,
    };
  }
  const request = review.request as { uid?: unknown } | undefined;
  if (typeof request !== 'object' || request === null || typeof request.uid !== 'string' || request.uid === '') {
    return { ok: false, status: 400, error: 'the AdmissionReview has no request.uid; expected a request from the Kubernetes API server' };
  }
  const parsed = AdmissionRequestSchema.safeParse(request);
  if (!parsed.success) {
    return { ok: false, status: 200, uid: request.uid, error: `the AdmissionReview request is malformed (${issueText(parsed.error)})` };
  }
  return { ok: true, request: parsed.data };
}

const MAX_WARNINGS = 10;

export function admissionResponse(
  uid: string,
  verdict: { allowed: boolean; message?: string; code?: number; warnings?: readonly string[] },
): AdmissionResponseBody {
  const response: AdmissionResponseBody['response'] = { uid, allowed: verdict.allowed };
  if (!verdict.allowed) response.status = { code: verdict.code ?? 403, message: verdict.message ?? 'denied' };
  if (verdict.warnings && verdict.warnings.length > 0) response.warnings = verdict.warnings.slice(0, MAX_WARNINGS);
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}
