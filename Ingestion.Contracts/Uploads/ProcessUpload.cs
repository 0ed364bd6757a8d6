namespace Ingestion.Contracts.Uploads;

/// <summary>
/// Load the job's S3 object into its dataset, resuming from the job's last checkpoint.
/// Safe to deliver more than once: at most one worker works on a job (or on one of its
/// chunks) at a time and every committed batch moves the checkpoint with it.
/// </summary>
/// <param name="JobId">The job.</param>
/// <param name="TenantId">The tenant whose dataset is loaded.</param>
/// <param name="Dataset">The dataset's name.</param>
/// <param name="Bucket">The S3 bucket holding the CSV.</param>
/// <param name="Key">The CSV object's key.</param>
/// <param name="Attempt">The attempt this belongs to (<see cref="IAttemptMessage"/>).</param>
/// <param name="Chunk">
/// Null: the job as a whole (a small file is loaded by this message; a large one is cut into
/// chunks, which are sent as messages of their own). A number: that chunk of a large file.
/// </param>
public sealed record ProcessUpload(
    Guid JobId,
    string TenantId,
    string Dataset,
    string Bucket,
    string Key,
    int Attempt = 0,
    int? Chunk = null) : IAttemptMessage;
