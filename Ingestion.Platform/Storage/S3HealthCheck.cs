using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Ingestion.Platform.Storage;

/// <summary>Ready when the bucket answers a listing.</summary>
internal sealed class S3HealthCheck(IAmazonS3 s3, IOptions<S3Options> options) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = options.Value.Bucket, MaxKeys = 1 }, cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (Exception e) when (e is AmazonS3Exception or HttpRequestException or TaskCanceledException)
        {
            return HealthCheckResult.Unhealthy($"bucket {options.Value.Bucket} does not answer: {e.Message}");
        }
    }
}
