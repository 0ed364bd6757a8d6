using Ingestion.Platform.Jobs;
using MassTransit;

namespace Ingestion.Workers.StateMachines;

internal static class JobErrors
{
    /// <summary>A worker's fault, as a job error: grouped by the exception's type.</summary>
    public static JobError From<T>(Fault<T> fault)
    {
        var exception = fault.Exceptions.FirstOrDefault();
        return new JobError(
            exception?.ExceptionType ?? "fault",
            exception?.Message ?? "The worker failed without an exception message.",
            fault.Timestamp);
    }
}
