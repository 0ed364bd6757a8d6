namespace Ingestion.Contracts.Statements;

/// <summary>
/// The statement is in S3: one PDF, or a ZIP of volumes when it was too large for one. It
/// stays there until <paramref name="ExpiresAt"/>.
/// </summary>
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
