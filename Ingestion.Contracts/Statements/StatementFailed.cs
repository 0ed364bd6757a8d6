namespace Ingestion.Contracts.Statements;

/// <summary>The statement could not be rendered; <paramref name="Code"/> is stable, <paramref name="Message"/> for a person.</summary>
public sealed record StatementFailed(
    Guid JobId,
    string Code,
    string Message,
    DateTimeOffset FailedAt,
    int Attempt = 0) : IAttemptMessage;
