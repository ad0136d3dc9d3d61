/** Only the client class: a dynamic import of this module bundles no more of the package than the client needs. */
export { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
