import { useState, type FormEvent, type ReactNode } from "react";
import { useNavigate } from "react-router";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { dossiers, fieldErrors } from "../api";
import { EquipmentCategory } from "../gen/fleuve/homologation/v1/types_pb";
import { ErrorNotice } from "./ErrorNotice";

const CATEGORIES = [
  EquipmentCategory.MOBILE_TERMINAL,
  EquipmentCategory.RADIO_EQUIPMENT,
  EquipmentCategory.NETWORK_EQUIPMENT,
  EquipmentCategory.SATELLITE_TERMINAL,
];

interface Band {
  lower: string;
  upper: string;
}
interface Characteristic {
  name: string;
  value: string;
}

/** A kHz figure as typed; anything but digits is sent as 0, which the server refuses by field. */
function khz(value: string): bigint {
  return /^\d{1,19}$/.test(value.trim()) ? BigInt(value.trim()) : 0n;
}

/** An input with its label and the server's message for `path`, tied by aria-describedby. */
function Field({
  id,
  label,
  error,
  children,
}: {
  id: string;
  label: string;
  error?: string;
  children: (props: { id: string; "aria-invalid": boolean; "aria-describedby"?: string }) => ReactNode;
}) {
  const errorId = `${id}-error`;
  return (
    <div className={error ? "field invalid" : "field"}>
      <label htmlFor={id}>{label}</label>
      {children({ id, "aria-invalid": Boolean(error), "aria-describedby": error ? errorId : undefined })}
      {error && (
        <p className="field-error" id={errorId}>
          {error}
        </p>
      )}
    </div>
  );
}

export function NewDossier() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [brand, setBrand] = useState("");
  const [model, setModel] = useState("");
  const [category, setCategory] = useState<EquipmentCategory>(EquipmentCategory.UNSPECIFIED);
  const [bands, setBands] = useState<Band[]>([{ lower: "", upper: "" }]);
  const [characteristics, setCharacteristics] = useState<Characteristic[]>([]);

  const create = useMutation({
    mutationFn: () =>
      dossiers.createDossier({
        equipment: {
          brand,
          model,
          category,
          frequencyBands: bands.map((b) => ({ lowerKhz: khz(b.lower), upperKhz: khz(b.upper) })),
          characteristics,
        },
      }),
    onSuccess: async (response) => {
      await queryClient.invalidateQueries({ queryKey: ["dossiers"] });
      navigate(`/dossiers/${response.dossierId}`);
    },
  });
  const errors = fieldErrors(create.error);
  const hasFieldErrors = Object.keys(errors).length > 0;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  const setBand = (index: number, patch: Partial<Band>) =>
    setBands(bands.map((b, i) => (i === index ? { ...b, ...patch } : b)));
  const setCharacteristic = (index: number, patch: Partial<Characteristic>) =>
    setCharacteristics(characteristics.map((c, i) => (i === index ? { ...c, ...patch } : c)));

  return (
    <section className="narrow">
      <h1>{t("newDossier.title")}</h1>
      <form onSubmit={submit} noValidate>
        {hasFieldErrors && (
          <p className="error" role="alert">
            {t("newDossier.fix")}
          </p>
        )}
        {create.isError && !hasFieldErrors && <ErrorNotice error={create.error} />}
        <fieldset>
          <legend>{t("newDossier.equipment")}</legend>
          <Field id="brand" label={t("newDossier.brand")} error={errors["equipment.brand"]}>
            {(props) => <input {...props} value={brand} onChange={(e) => setBrand(e.target.value)} />}
          </Field>
          <Field id="model" label={t("newDossier.model")} error={errors["equipment.model"]}>
            {(props) => <input {...props} value={model} onChange={(e) => setModel(e.target.value)} />}
          </Field>
          <Field id="category" label={t("newDossier.category")} error={errors["equipment.category"]}>
            {(props) => (
              <select {...props} value={category} onChange={(e) => setCategory(Number(e.target.value))}>
                <option value={EquipmentCategory.UNSPECIFIED}>{t("newDossier.chooseCategory")}</option>
                {CATEGORIES.map((c) => (
                  <option key={c} value={c}>
                    {t(`category.${EquipmentCategory[c]}`)}
                  </option>
                ))}
              </select>
            )}
          </Field>
        </fieldset>
        <fieldset>
          <legend>{t("newDossier.bands")}</legend>
          {errors["equipment.frequency_bands"] && (
            <p className="field-error" role="alert">
              {errors["equipment.frequency_bands"]}
            </p>
          )}
          {bands.map((band, i) => (
            <div className="row" key={i} role="group" aria-label={t("newDossier.band", { n: i + 1 })}>
              <Field id={`band-${i}-lower`} label={t("newDossier.lower")} error={errors[`equipment.frequency_bands[${i}]`]}>
                {(props) => (
                  <input
                    {...props}
                    inputMode="numeric"
                    value={band.lower}
                    onChange={(e) => setBand(i, { lower: e.target.value })}
                  />
                )}
              </Field>
              <Field id={`band-${i}-upper`} label={t("newDossier.upper")}>
                {(props) => (
                  <input
                    {...props}
                    inputMode="numeric"
                    value={band.upper}
                    onChange={(e) => setBand(i, { upper: e.target.value })}
                  />
                )}
              </Field>
              {bands.length > 1 && (
                <button type="button" className="secondary" onClick={() => setBands(bands.filter((_, j) => j !== i))}>
                  {t("newDossier.remove")}
                </button>
              )}
            </div>
          ))}
          <button type="button" className="secondary" onClick={() => setBands([...bands, { lower: "", upper: "" }])}>
            {t("newDossier.addBand")}
          </button>
        </fieldset>
        <fieldset>
          <legend>{t("newDossier.characteristics")}</legend>
          {errors["equipment.characteristics"] && (
            <p className="field-error" role="alert">
              {errors["equipment.characteristics"]}
            </p>
          )}
          {characteristics.map((c, i) => (
            <div className="row" key={i} role="group" aria-label={t("newDossier.characteristic", { n: i + 1 })}>
              <Field id={`char-${i}-name`} label={t("newDossier.name")} error={errors[`equipment.characteristics[${i}].name`]}>
                {(props) => <input {...props} value={c.name} onChange={(e) => setCharacteristic(i, { name: e.target.value })} />}
              </Field>
              <Field
                id={`char-${i}-value`}
                label={t("newDossier.value")}
                error={errors[`equipment.characteristics[${i}].value`]}
              >
                {(props) => (
                  <input {...props} value={c.value} onChange={(e) => setCharacteristic(i, { value: e.target.value })} />
                )}
              </Field>
              <button
                type="button"
                className="secondary"
                onClick={() => setCharacteristics(characteristics.filter((_, j) => j !== i))}
              >
                {t("newDossier.remove")}
              </button>
            </div>
          ))}
          <button
            type="button"
            className="secondary"
            onClick={() => setCharacteristics([...characteristics, { name: "", value: "" }])}
          >
            {t("newDossier.addCharacteristic")}
          </button>
        </fieldset>
        <button type="submit" disabled={create.isPending}>
          {create.isPending ? t("newDossier.busy") : t("newDossier.create")}
        </button>
      </form>
    </section>
  );
}
