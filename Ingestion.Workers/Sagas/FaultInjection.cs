using System.Diagnostics;

namespace Ingestion.Workers.Sagas;

/// <summary>
/// Crash points for tests and chaos runs, off unless configured. <c>FaultInjection:KillAfterSagaCommitOf</c>
/// names a message type (e.g. <c>RetryJob</c>): the worker kills itself (SIGKILL, no shutdown)
/// right after a saga's transaction for such a message commits, before anything else happens:
/// the moment a process dies between the saga's commit and what it sends.
/// </summary>
public sealed class FaultInjection(IConfiguration? configuration = null)
{
    private readonly string? _killAfterSagaCommitOf = configuration?["FaultInjection:KillAfterSagaCommitOf"];

    public void AfterSagaCommit(object message)
    {
        if (!string.IsNullOrEmpty(_killAfterSagaCommitOf) && message.GetType().Name == _killAfterSagaCommitOf)
        {
            Process.GetCurrentProcess().Kill();
        }
    }
}
