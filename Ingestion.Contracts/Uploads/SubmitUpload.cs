namespace Ingestion.Contracts.Uploads;

/// <summary>
/// Starts an upload job for a CSV object that is already in S3: publish it to load
/// <paramref name="Key"/> into the tenant's dataset without going through the HTTP API.
/// Publishing it twice with the same <paramref name="JobId"/> starts one job.
/// </summary>
/// <param name="JobId">The job's id, chosen by the caller: a repeat with the same id is the same job.</param>
/// <param name="TenantId">The tenant whose dataset is loaded.</param>
/// <param name="Dataset">The dataset's name, e.g. <c>transactions</c>; an unknown one is refused.</param>
/// <param name="Bucket">The S3 bucket holding the CSV; the service must be able to read it.</param>
/// <param name="Key">The CSV object's key. A completed job deletes it; a failed one keeps it for a retry.</param>
/// <param name="CallbackUrl">Optional http(s) URL notified when the job ends.</param>
public sealed record SubmitUpload(
    Guid JobId,
    string TenantId,
    string Dataset,
    string Bucket,
    string Key,
    string? CallbackUrl = null) : IJobMessage;
