namespace Ingestion.Contracts.Uploads;

/// <summary>
/// Load the job's S3 object into its dataset, resuming from the job's last checkpoint.
/// Safe to deliver more than once: at most one worker works on a job at a time and
/// every committed batch moves the checkpoint with it.
/// </summary>
public sealed record ProcessUpload(
    Guid JobId,
    string TenantId,
    string Dataset,
    string Bucket,
    string Key,
    int Attempt = 0) : IAttemptMessage;
