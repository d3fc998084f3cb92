set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
cp -rL .gpucheck/root/usr/share/. /usr/share/
TEST="EveningGlow/contents/images/2560x1600,OneStandsOut/contents/images/2560x1600,Path/contents/images/2560x1600"
python3 -m blurlib generate --source models/training_photos.txt:all --max-side 500 --kernel report -n 100 --seed 2 --out data/rep 2>&1 | tail -1
for preset in report report_as_run; do
  t0=$(date +%s)
  timeout 170 python3 -m blurlib train --data data/rep --out runs/$preset --preset $preset --seed 0 --val-sources camera --test-sources "$TEST" -q 2>&1 | grep -v "^WARNING\|^I0000" | grep -E "^Epoch (1|2|5|10|25|50|75|100)/|^[0-9]+/[0-9]+ |trained|last epoch" > $OUT/train_$preset.log
  echo "$preset train $(( $(date +%s) - t0 )) s" | tee -a $OUT/times.txt
  m=runs/$preset/model.keras; [ -f $m ] || m=runs/$preset/last.keras
  cp runs/$preset/log.csv $OUT/log_$preset.csv; cp runs/$preset/train_config.json $OUT/config_$preset.json
  python3 -m blurlib evaluate --model $m --max-side 500 --variants 2 --seed 0 --out runs/$preset 2>&1 | grep -E "^\*\*|^\| (cnn|laplacian) "
  cp runs/$preset/evaluation.md $OUT/evaluation_$preset.md
done
tail -n 3 $OUT/train_report.log $OUT/train_report_as_run.log
