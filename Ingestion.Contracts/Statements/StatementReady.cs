namespace Ingestion.Contracts.Statements;

/// <summary>
/// The statement is in S3: one PDF, or a ZIP of volumes when it was too large for one. It
/// stays there until <paramref name="ExpiresAt"/>.
/// </summary>
/// <param name="JobId">The job.</param>
/// <param name="Key">S3 key of the document, in the service's bucket.</param>
/// <param name="ContentType"><c>application/pdf</c>, or <c>application/zip</c> for volumes.</param>
/// <param name="Bytes">Size of the document.</param>
/// <param name="Lines">Statement lines in it.</param>
/// <param name="Pages">Pages in it, over all volumes.</param>
/// <param name="Volumes">1 for one PDF; more for a ZIP of volumes.</param>
/// <param name="CompletedAt">When the document was stored.</param>
/// <param name="ExpiresAt">When retention deletes the document; the job stays.</param>
/// <param name="Attempt">The attempt this belongs to (<see cref="IAttemptMessage"/>).</param>
public sealed record StatementReady(
    Guid JobId,
    string Key,
    string ContentType,
    long Bytes,
    long Lines,
    int Pages,
    int Volumes,
    DateTimeOffset CompletedAt,
    DateTimeOffset ExpiresAt,
    int Attempt = 0) : IAttemptMessage;
