namespace Ingestion.Contracts.Uploads;

/// <summary>An upload job was accepted: its object is in S3 and processing has been requested.</summary>
public sealed record UploadReceived(
    Guid JobId,
    string TenantId,
    string Dataset,
    string Bucket,
    string Key,
    DateTimeOffset ReceivedAt) : IJobMessage;
