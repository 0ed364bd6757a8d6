namespace Ingestion.Contracts.Statements;

/// <summary>A worker planned the statement: how many lines and pages, in how many volumes.</summary>
/// <param name="JobId">The job.</param>
/// <param name="LinesTotal">Statement lines the period has.</param>
/// <param name="PagesTotal">Pages the statement will have, over all volumes.</param>
/// <param name="Volumes">How many PDFs it is split into.</param>
/// <param name="StartedAt">When rendering started.</param>
/// <param name="Attempt">The attempt this belongs to (<see cref="IAttemptMessage"/>).</param>
public sealed record StatementRenderingStarted(
    Guid JobId,
    long LinesTotal,
    int PagesTotal,
    int Volumes,
    DateTimeOffset StartedAt,
    int Attempt = 0) : IAttemptMessage;
