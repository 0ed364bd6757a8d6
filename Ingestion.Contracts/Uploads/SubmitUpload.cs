namespace Ingestion.Contracts.Uploads;

/// <summary>
/// Starts an upload job for a CSV object that is already in S3: publish it to load
/// <paramref name="Key"/> into the tenant's dataset without going through the HTTP API.
/// Publishing it twice with the same <paramref name="JobId"/> starts one job.
/// </summary>
/// <param name="CallbackUrl">Optional http(s) URL notified when the job ends.</param>
public sealed record SubmitUpload(
    Guid JobId,
    string TenantId,
    string Dataset,
    string Bucket,
    string Key,
    string? CallbackUrl = null) : IJobMessage;
