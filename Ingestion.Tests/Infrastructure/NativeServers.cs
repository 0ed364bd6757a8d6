using System.Diagnostics;

namespace Ingestion.Tests.Infrastructure;

/// <summary>The servers that infra/up.sh installs and starts on this machine, without Docker.</summary>
public static class NativeServers
{
    public static async Task<Servers> StartAsync()
    {
        await Shell.RunAsync("bash", Path.Combine(Repository.Root, "infra", "up.sh"));

        // infra/env.sh is the one place that says where they listen.
        var output = await Shell.RunAsync("bash", "-c", $"source '{Path.Combine(Repository.Root, "infra", "env.sh")}' && env");
        var env = output.Split('\n').Select(l => l.Split('=', 2)).Where(p => p.Length == 2)
            .GroupBy(p => p[0]).ToDictionary(g => g.Key, g => g.First()[1]);
        return new Servers(
            "127.0.0.1",
            int.Parse(env["INGESTION_PG_PORT"]),
            env["INGESTION_DB_USER"],
            env["INGESTION_DB_PASSWORD"],
            "127.0.0.1",
            int.Parse(env["INGESTION_AMQP_PORT"]),
            int.Parse(env["INGESTION_RABBIT_MGMT_PORT"]),
            env["INGESTION_RABBIT_USER"],
            env["INGESTION_RABBIT_PASSWORD"],
            $"http://127.0.0.1:{env["INGESTION_S3_PORT"]}",
            env["INGESTION_S3_ACCESS_KEY"],
            env["INGESTION_S3_SECRET_KEY"],
            new NativeBroker());
    }

    private sealed class NativeBroker : IBrokerControl
    {
        private static readonly string Ctl = Path.Combine(Repository.Root, "infra", "rabbitmqctl.sh");

        public Task StopAsync() => Shell.RunAsync("bash", Ctl, "stop_app");

        public async Task StartAsync()
        {
            await Shell.RunAsync("bash", Ctl, "start_app");
            await Shell.RunAsync("bash", Ctl, "await_startup");
        }
    }
}

internal static class Shell
{
    public static async Task<string> RunAsync(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{file} {string.Join(' ', arguments)} exited with {process.ExitCode}:\n{await stdout}\n{await stderr}");
        }

        return await stdout;
    }
}
