import type { APIGatewayProxyResult } from 'aws-lambda';
import type { RateWindow } from '../domain/auth/principal.ts';

export interface HttpResult {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export const ok = (body: object): HttpResult => ({ status: 200, body: { success: true, ...body } });
export const created = (body: object): HttpResult => ({ status: 201, body: { success: true, ...body } });
export const errorBody = (message: string) => ({ success: false, error: { message } });

export interface CorsConfig {
  /** Exact origins, or `*` (spec §0.11). */
  allowedOrigins: readonly string[];
}

const exposed = 'X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, X-Request-Id';

export const corsHeaders = (cors: CorsConfig, origin: string | undefined): Record<string, string> => {
  if (!origin || !(cors.allowedOrigins.includes('*') || cors.allowedOrigins.includes(origin))) return {};
  return { 'Access-Control-Allow-Origin': origin, Vary: 'Origin', 'Access-Control-Expose-Headers': exposed };
};

export const preflightHeaders = (cors: CorsConfig, origin: string | undefined): Record<string, string> => {
  const base = corsHeaders(cors, origin);
  if (!base['Access-Control-Allow-Origin']) return {};
  return {
    ...base,
    'Access-Control-Allow-Methods': 'GET, POST, PUT, DELETE, OPTIONS',
    'Access-Control-Allow-Headers': 'Content-Type, Authorization, token, Idempotency-Key',
    'Access-Control-Max-Age': '600',
  };
};

export const rateHeaders = (rate: RateWindow | null, nowSeconds: number): Record<string, string> => {
  if (!rate) return {};
  const headers: Record<string, string> = {
    'X-RateLimit-Limit': String(rate.limit),
    'X-RateLimit-Remaining': String(rate.remaining),
    'X-RateLimit-Reset': String(rate.reset),
  };
  if (rate.exceeded) headers['Retry-After'] = String(Math.max(1, rate.reset - nowSeconds));
  return headers;
};

export const toProxyResult = (result: HttpResult, headers: Record<string, string>): APIGatewayProxyResult => ({
  statusCode: result.status,
  headers: { 'Content-Type': 'application/json; charset=utf-8', ...headers, ...result.headers },
  body: JSON.stringify(result.body),
});
