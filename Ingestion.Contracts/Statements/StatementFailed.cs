namespace Ingestion.Contracts.Statements;

/// <summary>The statement could not be rendered; <paramref name="Code"/> is stable, <paramref name="Message"/> for a person.</summary>
/// <param name="JobId">The job.</param>
/// <param name="Code">A stable, machine-readable cause.</param>
/// <param name="Message">What went wrong, for a person.</param>
/// <param name="FailedAt">When rendering failed.</param>
/// <param name="Attempt">The attempt this belongs to (<see cref="IAttemptMessage"/>).</param>
public sealed record StatementFailed(
    Guid JobId,
    string Code,
    string Message,
    DateTimeOffset FailedAt,
    int Attempt = 0) : IAttemptMessage;
