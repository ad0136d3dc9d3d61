/** Only the client class: a dynamic import of this module bundles no more of the S3 package than the client needs. */
export { S3Client } from '@aws-sdk/client-s3';
