import { describe, expect, it } from 'vitest';
import { matchRoute, routes, type RouteDef } from '../../../shared/http/routes.ts';

function routeOf(method: string, path: string): RouteDef {
  const found = routes.find((candidate) => candidate.method === method && candidate.path === path);
  if (!found) throw new Error(`no route ${method} ${path}`);
  return found;
}

describe('matchRoute', () => {
  it('matches a fixed path exactly', () => {
    // Act
    const match = matchRoute(routes, 'POST', '/api/instance/new');

    // Assess
    expect(match).toEqual({ kind: 'route', route: routeOf('POST', '/api/instance/new'), params: {} });
  });

  it('extracts path parameters', () => {
    // Act
    const instance = matchRoute(routes, 'GET', '/api/instance/getSettings/orion');
    const account = matchRoute(routes, 'POST', '/admin/accounts/5e1d3c9a-7f2b-4d8e-9a61-0c4b2e7f1a33/rotate-token');

    // Assess
    expect(instance).toEqual({ kind: 'route', route: routeOf('GET', '/api/instance/getSettings/{instance}'), params: { instance: 'orion' } });
    expect(account).toEqual({
      kind: 'route',
      route: routeOf('POST', '/admin/accounts/{id}/rotate-token'),
      params: { id: '5e1d3c9a-7f2b-4d8e-9a61-0c4b2e7f1a33' },
    });
  });

  it('lets an empty {instance} segment reach the handler', () => {
    // Act
    const match = matchRoute(routes, 'DELETE', '/api/instance/delete/');

    // Assess
    expect(match).toEqual({ kind: 'route', route: routeOf('DELETE', '/api/instance/delete/{instance}'), params: { instance: '' } });
  });

  it('does not let other parameters be empty', () => {
    // Act
    const match = matchRoute(routes, 'PATCH', '/admin/accounts/');

    // Assess
    expect(match).toEqual({ kind: 'not_found' });
  });

  it('answers method_not_allowed with every method the path accepts', () => {
    // Act
    const list = matchRoute(routes, 'POST', '/api/instance/list');
    const accounts = matchRoute(routes, 'PUT', '/admin/accounts');
    const account = matchRoute(routes, 'GET', '/admin/accounts/abc');
    const settings = matchRoute(routes, 'GET', '/api/instance/settings/orion');

    // Assess
    expect(list).toEqual({ kind: 'method_not_allowed', allow: ['GET'] });
    expect(accounts.kind).toBe('method_not_allowed');
    expect(accounts.kind === 'method_not_allowed' && [...accounts.allow].sort()).toEqual(['GET', 'POST']);
    expect(account.kind === 'method_not_allowed' && [...account.allow].sort()).toEqual(['DELETE', 'PATCH']);
    expect(settings).toEqual({ kind: 'method_not_allowed', allow: ['POST'] });
  });

  it('is case-sensitive', () => {
    // Act
    const upperPath = matchRoute(routes, 'GET', '/api/instance/getsettings/orion');
    const capitalised = matchRoute(routes, 'GET', '/API/instance/list');
    const name = matchRoute(routes, 'GET', '/api/instance/getProxy/Sales');

    // Assess
    expect(upperPath).toEqual({ kind: 'not_found' });
    expect(capitalised).toEqual({ kind: 'not_found' });
    expect(name.kind === 'route' && name.params).toEqual({ instance: 'Sales' });
  });

  it.each([
    ['an unknown path', '/api/instance/unknown'],
    ['a trailing slash on a fixed path', '/api/instance/list/'],
    ['an extra segment', '/api/instance/getSettings/orion/extra'],
    ['a missing segment', '/api/instance/getSettings'],
    ['the root', '/'],
    ['a double slash', '/api//instance/list'],
  ])('answers not_found for %s', (_, path) => {
    // Act
    const match = matchRoute(routes, 'GET', path);

    // Assess
    expect(match).toEqual({ kind: 'not_found' });
  });

  it('percent-decodes parameters', () => {
    // Act
    const encoded = matchRoute(routes, 'GET', '/api/instance/getS3/my%2Dinstance');
    const space = matchRoute(routes, 'GET', '/api/instance/getS3/a%20b');
    const slash = matchRoute(routes, 'GET', '/api/instance/getS3/a%2Fb');

    // Assess
    expect(encoded.kind === 'route' && encoded.params).toEqual({ instance: 'my-instance' });
    expect(space.kind === 'route' && space.params).toEqual({ instance: 'a b' });
    expect(slash.kind === 'route' && slash.params).toEqual({ instance: 'a/b' });
  });

  it('keeps a malformed percent-encoding verbatim instead of failing', () => {
    // Act
    const match = matchRoute(routes, 'GET', '/api/instance/getS3/bad%E0%A4%A');

    // Assess
    expect(match.kind === 'route' && match.params).toEqual({ instance: 'bad%E0%A4%A' });
  });

  it('does not decode fixed segments', () => {
    // Act
    const match = matchRoute(routes, 'GET', '/api/instance/%6Cist');

    // Assess
    expect(match).toEqual({ kind: 'not_found' });
  });
});

describe('route table', () => {
  it('declares the contract rules of the instance endpoints', () => {
    // Act
    const create = routeOf('POST', '/api/instance/new');
    const remove = routeOf('DELETE', '/api/instance/delete/{instance}');
    const list = routeOf('GET', '/api/instance/list');
    const health = routeOf('GET', '/health');

    // Assess
    expect(create).toMatchObject({ auth: 'token', bucket: 'create', accountOnly: true, failure: 'Failed to create instance' });
    expect(remove).toMatchObject({ auth: 'token', bucket: 'global', accountOnly: true });
    expect(list).toMatchObject({ auth: 'token', bucket: 'global', accountOnly: false, failure: 'Failed to list instances' });
    expect(health).toMatchObject({ auth: 'none' });
  });

  it('puts every /admin route behind the admin key', () => {
    // Act
    const admin = routes.filter((route) => route.path.startsWith('/admin/'));

    // Assess
    expect(admin.length).toBeGreaterThan(0);
    expect(admin.every((route) => route.auth === 'admin')).toBe(true);
  });

  it('has no two routes with the same method and path', () => {
    // Act
    const keys = routes.map((route) => `${route.method} ${route.path}`);

    // Assess
    expect(new Set(keys).size).toBe(keys.length);
  });
});
