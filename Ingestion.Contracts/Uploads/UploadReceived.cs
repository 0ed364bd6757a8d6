namespace Ingestion.Contracts.Uploads;

/// <summary>An upload job was accepted: its object is in S3 and processing has been requested.</summary>
/// <param name="JobId">The job.</param>
/// <param name="TenantId">The tenant whose dataset is loaded.</param>
/// <param name="Dataset">The dataset's name.</param>
/// <param name="Bucket">The S3 bucket holding the CSV.</param>
/// <param name="Key">The CSV object's key.</param>
/// <param name="ReceivedAt">When the job was created.</param>
public sealed record UploadReceived(
    Guid JobId,
    string TenantId,
    string Dataset,
    string Bucket,
    string Key,
    DateTimeOffset ReceivedAt) : IJobMessage;
